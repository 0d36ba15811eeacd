# SPDX-License-Identifier: Apache-2.0
"""Load generator for the Online Boutique (Debian's python3-locust + python3-fake-factory).

Each simulated user keeps its own cookies (session and currency), follows
redirects, waits 1-10 s between tasks and runs, with these weights:
index 1, setCurrency 2, browseProduct 10, addToCart 2, viewCart 3, checkout 1.

Environment: FRONTEND_ADDR (host:port or a URL; used when --host is not given).
USERS and RATE are read by run.sh (locust's -u and -r).
"""
import datetime
import os
import random

from faker import Faker
from locust import FastHttpUser, between, task

fake = Faker()

PRODUCTS = [
    "0PUK6V6EV0", "1YMWWN1N4O", "2ZYFJ3GM2N", "66VCHSJNUP", "6E92ZMYYFZ",
    "9SIQT8TOJO", "L9ECAV7KIM", "LS4PSXUNUM", "OLJCESPC7Z",
]
CURRENCIES = ["EUR", "USD", "JPY", "CAD", "GBP", "TRY"]


def visa16():
    """A random 16-digit Visa number with a valid Luhn check digit."""
    digits = [4] + [random.randint(0, 9) for _ in range(14)]
    total = 0
    # Positions counted from the right once the check digit is appended:
    # the last of these 15 digits is doubled.
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    return "".join(str(d) for d in digits)


def frontend_url():
    addr = os.environ.get("FRONTEND_ADDR", "")
    if not addr:
        return None
    return addr if "://" in addr else "http://" + addr


class ShopUser(FastHttpUser):
    host = frontend_url()
    wait_time = between(1, 10)

    def on_start(self):
        self.index()

    @task(1)
    def index(self):
        self.client.get("/")

    @task(2)
    def setCurrency(self):
        self.client.post("/setCurrency", data={"currency_code": random.choice(CURRENCIES)})

    @task(10)
    def browseProduct(self):
        self.client.get("/product/" + random.choice(PRODUCTS), name="/product/[id]")

    @task(2)
    def addToCart(self):
        product = random.choice(PRODUCTS)
        self.client.get("/product/" + product, name="/product/[id]")
        self.client.post("/cart", data={"product_id": product, "quantity": random.randint(1, 10)})

    @task(3)
    def viewCart(self):
        self.client.get("/cart")

    @task(1)
    def checkout(self):
        self.addToCart()
        year = datetime.date.today().year
        self.client.post("/cart/checkout", data={
            "email": fake.email(),
            "street_address": fake.street_address(),
            "zip_code": str(random.randint(10000, 99999)),
            "city": fake.city(),
            "state": fake.state_abbr(),
            "country": fake.country(),
            "credit_card_number": visa16(),
            "credit_card_expiration_month": str(random.randint(1, 12)),
            "credit_card_expiration_year": str(random.randint(year + 1, year + 5)),
            "credit_card_cvv": str(random.randint(100, 999)),
        })
