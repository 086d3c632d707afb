"""The café itself, in one place: its menu and its site's pages.

The site templates (what `up` deploys), the log generator and the insights all read this
catalog, so every path in a log is a real page of the site and every item a real item.
"""

from __future__ import annotations

import re
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

# Pages and assets, for every "page view" figure (visits, top_pages, slowest_pages): an asset is
# a file a browser fetches for a page — stylesheets, scripts, images, icons, fonts — known by the
# extension of its path (any case); every other path is a page. One rule for the insights (SQL:
# `ASSET_PATTERN` on the lower-cased path) and the generator's ground truth (`is_asset_path`).
ASSET_EXTENSIONS: tuple[str, ...] = (
    "css", "js", "mjs", "map", "svg", "png", "jpg", "jpeg", "gif", "webp", "avif", "ico", "bmp",
    "woff", "woff2", "ttf", "otf", "eot",
)  # fmt: skip
ASSET_PATTERN = r"\.(" + "|".join(ASSET_EXTENSIONS) + r")$"
_ASSET_RE = re.compile(ASSET_PATTERN[:-1] + r"\Z")  # `$` would also match before a final "\n"


def is_asset_path(path: str) -> bool:
    """True for a stylesheet, script, image, icon or font (`ASSET_EXTENSIONS`), not a page."""
    return _ASSET_RE.search(path.lower()) is not None


# How many of one item an order may hold: the menu page's quantity fields stop at it, the site
# refuses an order over it (400), and the insights leave a logged quantity over it out of
# `items_ordered`.
MAX_QUANTITY = 20
# A quantity as the page writes it: 1 to MAX_QUANTITY in ASCII digits, no sign, no leading zero.
QUANTITY_PATTERN = f"[1-9][0-9]{{0,{len(str(MAX_QUANTITY)) - 1}}}"
# The `items` value of an order the site accepts (item ids are [a-z-]: no escaping needed).
BASKET_PATTERN = (
    f"({'|'.join(item.id for item in MENU)}):{QUANTITY_PATTERN}"
    f"(,({'|'.join(item.id for item in MENU)}):{QUANTITY_PATTERN})*"
)

# Items whose pictures the home page shows (the menu page shows every item's picture).
FEATURED_ITEM_IDS: tuple[str, ...] = ("latte", "croissant", "cheesecake")


def item_image_path(item: MenuItem) -> str:
    return f"/cafe/images/{item.id}.svg"


def order_query(lines: list[tuple[str, int]]) -> str:
    """The query string of an order: `?items=latte:2,croissant:1`."""
    return "?items=" + ",".join(f"{item_id}:{qty}" for item_id, qty in lines)


def parse_basket(items: str) -> list[tuple[str, int]] | None:
    """`latte:2,croissant:1` → its lines; None unless the site accepts it as an order.

    The site's rule (`templates/site/inc/catalog.php.j2`): known items only, each once, a
    quantity from 1 to MAX_QUANTITY written as the page writes it, at least one item.
    """
    if not re.fullmatch(BASKET_PATTERN, items):
        return None
    lines = [
        (item_id, int(qty)) for item_id, _, qty in (e.partition(":") for e in items.split(","))
    ]
    ids = [item_id for item_id, _ in lines]
    if len(set(ids)) != len(ids) or any(qty > MAX_QUANTITY for _, qty in lines):
        return None
    return lines


def order_basket(query: str) -> str | None:
    """The raw `items` value of a query string (`?items=…&…`); None unless there is exactly one."""
    params = query.removeprefix("?").split("&")
    baskets = [param[len("items=") :] for param in params if param.startswith("items=")]
    return baskets[0] if len(baskets) == 1 else None


def parse_order_query(query: str) -> list[tuple[str, int]]:
    """Inverse of `order_query`: the lines of an order the site accepts, else []."""
    basket = order_basket(query)
    return (parse_basket(basket) if basket is not None else None) or []
