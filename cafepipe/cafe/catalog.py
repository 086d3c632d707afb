"""The café itself, in one place: its menu and its site's pages.

The site templates (what `up` deploys), the log generator and the insights all read this
catalog, so every path in a log is a real page of the site and every item a real item.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MenuItem:
    """One thing the café sells."""

    id: str  # used in URLs: /cafe/item.php?id=<id>, processOrder.php?items=<id>:<qty>,...
    name: str
    category: str  # "coffee", "tea", "dessert", "pastry", "cold drink"
    price: float  # USD


MENU: tuple[MenuItem, ...] = (
    MenuItem("espresso", "Espresso", "coffee", 2.75),
    MenuItem("americano", "Americano", "coffee", 3.25),
    MenuItem("cappuccino", "Cappuccino", "coffee", 4.25),
    MenuItem("latte", "Caffè Latte", "coffee", 4.50),
    MenuItem("flat-white", "Flat White", "coffee", 4.25),
    MenuItem("mocha", "Mocha", "coffee", 4.95),
    MenuItem("cold-brew", "Cold Brew", "cold drink", 4.75),
    MenuItem("iced-latte", "Iced Latte", "cold drink", 4.95),
    MenuItem("chai-latte", "Chai Latte", "tea", 4.50),
    MenuItem("green-tea", "Sencha Green Tea", "tea", 3.00),
    MenuItem("hot-chocolate", "Hot Chocolate", "cold drink", 3.95),
    MenuItem("croissant", "Butter Croissant", "pastry", 3.25),
    MenuItem("pain-au-chocolat", "Pain au Chocolat", "pastry", 3.75),
    MenuItem("cinnamon-roll", "Cinnamon Roll", "pastry", 3.95),
    MenuItem("blueberry-muffin", "Blueberry Muffin", "pastry", 3.50),
    MenuItem("cheesecake", "New York Cheesecake", "dessert", 5.95),
    MenuItem("tiramisu", "Tiramisu", "dessert", 6.25),
    MenuItem("chocolate-cake", "Chocolate Fudge Cake", "dessert", 5.75),
    MenuItem("macarons", "Macarons (box of 6)", "dessert", 8.50),
    MenuItem("apple-pie", "Apple Pie", "dessert", 4.95),
)

MENU_BY_ID: dict[str, MenuItem] = {item.id: item for item in MENU}

# The site's pages (request paths, without query string).
HOME_PATH = "/cafe"
MENU_PATH = "/cafe/menu.php"
ITEM_PATH = "/cafe/item.php"  # ?id=<item id>
ORDER_PATH = "/cafe/processOrder.php"  # POST, ?items=<id>:<qty>,<id>:<qty>
ABOUT_PATH = "/cafe/about.php"
PAGES: tuple[str, ...] = (HOME_PATH, MENU_PATH, ITEM_PATH, ORDER_PATH, ABOUT_PATH)

# Static assets every page pulls in (what a browser requests after a page view).
STYLESHEET_PATH = "/cafe/css/cafe.css"
SCRIPT_PATH = "/cafe/js/cart.js"
LOGO_PATH = "/cafe/images/logo.svg"
FAVICON_PATH = "/favicon.ico"
ASSETS: tuple[str, ...] = (STYLESHEET_PATH, SCRIPT_PATH, LOGO_PATH, FAVICON_PATH)

# Items whose pictures the home page shows (the menu page shows every item's picture).
FEATURED_ITEM_IDS: tuple[str, ...] = ("latte", "croissant", "cheesecake")


def item_image_path(item: MenuItem) -> str:
    return f"/cafe/images/{item.id}.svg"


def order_query(lines: list[tuple[str, int]]) -> str:
    """The query string of an order: `?items=latte:2,croissant:1`."""
    return "?items=" + ",".join(f"{item_id}:{qty}" for item_id, qty in lines)


def parse_order_query(query: str) -> list[tuple[str, int]]:
    """Inverse of `order_query`; unknown items and bad quantities are skipped."""
    query = query.lstrip("?")
    for part in query.split("&"):
        if part.startswith("items="):
            lines = []
            for entry in part[len("items=") :].split(","):
                item_id, _, qty = entry.partition(":")
                if item_id in MENU_BY_ID and qty.isdigit():
                    lines.append((item_id, int(qty)))
            return lines
    return []
