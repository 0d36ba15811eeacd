// SPDX-License-Identifier: Apache-2.0
const fs = require('fs');
console.log('ARG=' + process.argv[2]);
console.log('ENVKEYS=' + Object.keys(process.env).sort().join(','));
console.log('GREETING=' + (process.env.GREETING || ''));
console.log('SECRET=' + (process.env.SECRET || ''));
console.log('INJECT=' + fs.readFileSync('/etc/app/config.txt', 'utf8'));
console.log('DATA=' + fs.readFileSync('/app/data.txt', 'utf8').trim());
