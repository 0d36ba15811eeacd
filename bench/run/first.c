/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's service: prints CLOCK_REALTIME (ns) at its first instruction, then exits. */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("first %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
