/* SPDX-License-Identifier: Apache-2.0 */
/* The adservice's ads: category key, product id, text (our own copy). */
#ifndef BOUTIQUE_ADS_H
#define BOUTIQUE_ADS_H

struct ad_entry {
    const char *category;
    const char *redirect_url;
    const char *text;
};

static const struct ad_entry ad_entries[] = {
    {"clothing", "/product/66VCHSJNUP", "Tank top for warm days: 20% off this week."},
    {"accessories", "/product/1YMWWN1N4O", "A watch that goes with everything, now with free engraving."},
    {"footwear", "/product/L9ECAV7KIM", "Suede loafers: buy one pair, get the second at half price."},
    {"hair", "/product/2ZYFJ3GM2N", "Travel hairdryer, folds small, dries fast. 25% off."},
    {"decor", "/product/0PUK6V6EV0", "Stoneware candle holders: light up the evening, 30% off."},
    {"kitchen", "/product/9SIQT8TOJO", "Bamboo glass jars: three for the price of two."},
    {"kitchen", "/product/6E92ZMYYFZ", "The morning mug, back in stock. Free shipping today."},
};
#define AD_COUNT (sizeof ad_entries / sizeof ad_entries[0])

#endif
