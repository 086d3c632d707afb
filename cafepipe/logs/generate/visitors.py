"""Who visits the café's site, when, and how they browse: the generator's traffic model.

Visitors (an IP, a device's user agent, a city of `cafepipe.cafe.geography`) come in sessions:
they arrive from a referrer (search, social, review sites, direct, or a campaign whose landing
URL carries UTM parameters), land on `/cafe` (or the menu, an item, the about page), and unless
they bounce go on to the menu, look at items, maybe the about page, and a share of them order
(`/cafe/processOrder.php`, POST, `?items=latte:2,croissant:1`). Human traffic follows each
visitor's local clock (breakfast and afternoon peaks, quiet nights, busier weekends), so the
UTC hourly profile is a blend of the cities' time zones.

Search-engine crawlers and uptime monitors (real user agents, real operators' networks) and
vulnerability scanners (probing `cafepipe.cafe.traffic.SCANNER_PATHS`) come around the clock.
Every agent here is checked against `cafepipe.cafe.traffic` at import, so the insights'
bot rules classify the generated lines as the generator meant them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cafepipe.cafe import geography, traffic

HUMAN_USER_AGENTS: tuple[tuple[str, int], ...] = (
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
        24,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36",
        20,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Mobile Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/26.0 Safari/605.1.15",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
        6,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0", 5),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
        4,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.6 Mobile/15E148 Safari/604.1",
        3,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1",
        3,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 Instagram 380.0.0.29.109 (iPhone15,3; iOS 18_6; en_US; en; "
        "scale=3.00; 1290x2796; 745102340)",
        2,
    ),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", 1),
)


@dataclass(frozen=True)
class BotAgent:
    """A crawler or monitor: its real user agent and networks (/24 prefixes of geo)."""

    name: str
    user_agent: str
    networks: tuple[str, ...]
    kind: str  # "crawler" or "monitor"
    weight: int  # share of bot sessions


BOT_AGENTS: tuple[BotAgent, ...] = (
    BotAgent(
        "Googlebot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.66", "66.249.79"),
        "crawler",
        24,
    ),
    BotAgent(
        "Googlebot smartphone",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.68",),
        "crawler",
        16,
    ),
    BotAgent(
        "bingbot",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ("157.55.39", "207.46.13", "40.77.167"),
        "crawler",
        14,
    ),
    BotAgent(
        "DuckDuckBot",
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        ("20.191.45",),
        "crawler",
        3,
    ),
    BotAgent(
        "YandexBot",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        ("5.255.231",),
        "crawler",
        4,
    ),
    BotAgent(
        "Baiduspider",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        ("116.179.32",),
        "crawler",
        3,
    ),
    BotAgent(
        "AhrefsBot",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        ("54.36.148",),
        "crawler",
        8,
    ),
    BotAgent(
        "SemrushBot",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        ("185.191.171",),
        "crawler",
        6,
    ),
    BotAgent(
        "Applebot",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Safari/605.1.15 (Applebot/0.1; "
        "+http://www.apple.com/go/applebot)",
        ("17.241.219",),
        "crawler",
        3,
    ),
    BotAgent(
        "facebookexternalhit",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        ("69.171.249",),
        "crawler",
        3,
    ),
    BotAgent(
        "UptimeRobot",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        ("69.162.124",),
        "monitor",
        10,
    ),
    BotAgent(
        "Pingdom",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        ("178.255.152",),
        "monitor",
        6,
    ),
)
BOT_IPS_PER_AGENT = 8

SCANNER_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 zgrab/0.x",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
)
# Scanners' networks (/24 prefixes; their towns are in geography.NETWORK_CITIES).
SCANNER_NETWORKS: tuple[str, ...] = (
    "45.148.10",
    "167.94.138",
    "193.41.206",
    "218.92.0",
    "185.220.101",
    "104.248.36",
    "3.90.164",
    "43.134.58",
    "92.118.39",
    "159.203.82",
)
SCANNER_IPS = 160

# Where a session comes from when it is not a campaign: (referer, weight); "-" is direct.
EXTERNAL_REFERERS: tuple[tuple[str, int], ...] = (
    ("-", 38),
    ("https://www.google.com/", 30),
    ("https://www.google.com/maps", 5),
    ("https://www.bing.com/", 5),
    ("https://duckduckgo.com/", 3),
    ("https://www.facebook.com/", 6),
    ("https://l.instagram.com/", 6),
    ("https://www.yelp.com/biz/anycompany-cafe-seattle", 4),
    ("https://www.tripadvisor.com/", 2),
    ("https://t.co/", 1),
)
# Campaign landings on /cafe: (query string, referer).
CAMPAIGNS: tuple[tuple[str, str], ...] = (
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=autumn-menu", "-"),
    (
        "?utm_source=instagram&utm_medium=social&utm_campaign=pumpkin-spice",
        "https://l.instagram.com/",
    ),
    ("?utm_source=google&utm_medium=cpc&utm_campaign=coffee-near-me", "https://www.google.com/"),
    (
        "?utm_source=facebook&utm_medium=social&utm_campaign=weekend-brunch",
        "https://www.facebook.com/",
    ),
)

# Local-time rhythm of a café's site: per hour 0..23, and per weekday Monday..Sunday.
# fmt: off
HOUR_WEIGHTS: tuple[int, ...] = (
    3, 2, 1, 1, 1, 2, 6, 16, 24, 20, 14, 12, 14, 12, 11, 15, 18, 14, 10, 8, 7, 6, 5, 4,
)
# fmt: on
WEEKDAY_WEIGHTS: tuple[int, ...] = (10, 10, 10, 11, 12, 14, 13)
# Where sessions land: home, menu, item, about.
LANDING_WEIGHTS: tuple[int, ...] = (55, 25, 12, 8)
# Page kinds in a session (also the landing kinds, in LANDING_WEIGHTS order).
HOME, MENU, ITEM, ABOUT, ORDER = range(5)
REGULARS_DIVISOR = 5  # a city's regulars are 1 / this of its visitors
ABOUT_SHARE = 0.10  # non-bounced sessions that also read the about page
ORDER_VARIANTS = 128  # distinct order baskets per run
BOT_ROBOTS_SHARE = 0.3  # crawler sessions that start with /robots.txt

for _ua, _w in HUMAN_USER_AGENTS:
    if traffic.is_bot_user_agent(_ua):  # pragma: no cover - guards the shared definition
        raise AssertionError(f"a human user agent looks like a bot: {_ua}")
for _ua in SCANNER_USER_AGENTS:
    if traffic.is_bot_user_agent(_ua):  # pragma: no cover
        raise AssertionError(f"a scanner user agent looks like a bot: {_ua}")
for _agent in BOT_AGENTS:
    if not traffic.is_bot_user_agent(_agent.user_agent):  # pragma: no cover
        raise AssertionError(f"a bot user agent is not recognised: {_agent.name}")
for _network in (*SCANNER_NETWORKS, *(n for agent in BOT_AGENTS for n in agent.networks)):
    if _network not in geography.NETWORK_CITIES:  # pragma: no cover
        raise AssertionError(f"a network without a town in geography: {_network}")
