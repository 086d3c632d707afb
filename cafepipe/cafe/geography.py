"""Where the café's visitors are: an embedded table of real cities, and their IP blocks.

Each city has a weight (its share of human visitors; 0 for data-centre towns that only send
bots and scanners) and a fixed UTC offset (standard time; daylight saving is ignored), so the
generated traffic follows each visitor's local day. The café is American: its home market is
the US west coast, with real demand elsewhere, so "where do we open next?" has an answer.

Names are plain ASCII (what CloudFront's `CloudFront-Viewer-City` and
`-Country-Region-Name` headers carry for these cities), which keeps every log line valid JSON.

Every city owns a few /16 IP blocks (invented but stable, outside private and reserved
ranges), and every bot or scanner network a /24, so a line's city can be recovered from its
client address alone (`city_for_ip`) — that is how a combined-format log, which has no geo
fields, still answers the geography questions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """One city of the geo table."""

    name: str
    region: str
    country: str  # ISO 3166-1 alpha-2
    lat: float
    lon: float
    weight: int  # relative share of human visitors
    utc_offset_minutes: int  # standard time


def _c(
    name: str, region: str, country: str, lat: float, lon: float, weight: int, utc_h: float
) -> City:
    return City(name, region, country, lat, lon, weight, round(utc_h * 60))


CITIES: tuple[City, ...] = (
    # United States (home market: the west coast)
    _c("Seattle", "Washington", "US", 47.61, -122.33, 90, -8),
    _c("Bellevue", "Washington", "US", 47.61, -122.20, 20, -8),
    _c("Tacoma", "Washington", "US", 47.25, -122.44, 14, -8),
    _c("Portland", "Oregon", "US", 45.52, -122.68, 35, -8),
    _c("San Francisco", "California", "US", 37.77, -122.42, 40, -8),
    _c("San Jose", "California", "US", 37.34, -121.89, 16, -8),
    _c("Los Angeles", "California", "US", 34.05, -118.24, 45, -8),
    _c("San Diego", "California", "US", 32.72, -117.16, 18, -8),
    _c("Mountain View", "California", "US", 37.39, -122.08, 4, -8),
    _c("Cupertino", "California", "US", 37.32, -122.03, 2, -8),
    _c("Las Vegas", "Nevada", "US", 36.17, -115.14, 10, -8),
    _c("Quincy", "Washington", "US", 47.23, -119.85, 0, -8),
    _c("Phoenix", "Arizona", "US", 33.45, -112.07, 14, -7),
    _c("Denver", "Colorado", "US", 39.74, -104.99, 18, -7),
    _c("Salt Lake City", "Utah", "US", 40.76, -111.89, 8, -7),
    _c("Boise", "Idaho", "US", 43.62, -116.20, 5, -7),
    _c("Dallas", "Texas", "US", 32.78, -96.80, 18, -6),
    _c("Houston", "Texas", "US", 29.76, -95.37, 16, -6),
    _c("Austin", "Texas", "US", 30.27, -97.74, 22, -6),
    _c("Chicago", "Illinois", "US", 41.88, -87.63, 32, -6),
    _c("Minneapolis", "Minnesota", "US", 44.98, -93.27, 10, -6),
    _c("Kansas City", "Missouri", "US", 39.10, -94.58, 6, -6),
    _c("Nashville", "Tennessee", "US", 36.16, -86.78, 9, -6),
    _c("New Orleans", "Louisiana", "US", 29.95, -90.07, 6, -6),
    _c("New York", "New York", "US", 40.71, -74.01, 50, -5),
    _c("Brooklyn", "New York", "US", 40.68, -73.94, 14, -5),
    _c("Boston", "Massachusetts", "US", 42.36, -71.06, 22, -5),
    _c("Philadelphia", "Pennsylvania", "US", 39.95, -75.17, 14, -5),
    _c("Washington", "District of Columbia", "US", 38.91, -77.04, 16, -5),
    _c("Ashburn", "Virginia", "US", 39.04, -77.49, 1, -5),
    _c("Atlanta", "Georgia", "US", 33.75, -84.39, 15, -5),
    _c("Miami", "Florida", "US", 25.76, -80.19, 15, -5),
    _c("Orlando", "Florida", "US", 28.54, -81.38, 8, -5),
    _c("Charlotte", "North Carolina", "US", 35.23, -80.84, 7, -5),
    _c("Detroit", "Michigan", "US", 42.33, -83.05, 7, -5),
    # Canada
    _c("Vancouver", "British Columbia", "CA", 49.28, -123.12, 30, -8),
    _c("Calgary", "Alberta", "CA", 51.05, -114.07, 7, -7),
    _c("Toronto", "Ontario", "CA", 43.65, -79.38, 22, -5),
    _c("Montreal", "Quebec", "CA", 45.50, -73.57, 10, -5),
    # Mexico and Brazil
    _c("Mexico City", "Ciudad de Mexico", "MX", 19.43, -99.13, 9, -6),
    _c("Guadalajara", "Jalisco", "MX", 20.67, -103.35, 3, -6),
    _c("Sao Paulo", "Sao Paulo", "BR", -23.55, -46.63, 6, -3),
    _c("Rio de Janeiro", "Rio de Janeiro", "BR", -22.91, -43.17, 3, -3),
    # Europe
    _c("London", "England", "GB", 51.51, -0.13, 20, 0),
    _c("Manchester", "England", "GB", 53.48, -2.24, 5, 0),
    _c("Edinburgh", "Scotland", "GB", 55.95, -3.19, 3, 0),
    _c("Dublin", "Leinster", "IE", 53.35, -6.26, 5, 0),
    _c("Paris", "Ile-de-France", "FR", 48.86, 2.35, 9, 1),
    _c("Lyon", "Auvergne-Rhone-Alpes", "FR", 45.76, 4.84, 2, 1),
    _c("Roubaix", "Hauts-de-France", "FR", 50.69, 3.17, 0, 1),
    _c("Berlin", "Berlin", "DE", 52.52, 13.40, 7, 1),
    _c("Munich", "Bavaria", "DE", 48.14, 11.58, 5, 1),
    _c("Frankfurt am Main", "Hesse", "DE", 50.11, 8.68, 2, 1),
    _c("Amsterdam", "North Holland", "NL", 52.37, 4.90, 6, 1),
    _c("Madrid", "Community of Madrid", "ES", 40.42, -3.70, 4, 1),
    _c("Barcelona", "Catalonia", "ES", 41.39, 2.17, 4, 1),
    _c("Rome", "Lazio", "IT", 41.90, 12.50, 3, 1),
    _c("Milan", "Lombardy", "IT", 45.46, 9.19, 3, 1),
    _c("Stockholm", "Stockholm", "SE", 59.33, 18.07, 3, 1),
    _c("Moscow", "Moscow", "RU", 55.76, 37.62, 0, 3),
    # Asia and Oceania
    _c("Mumbai", "Maharashtra", "IN", 19.08, 72.88, 3, 5.5),
    _c("Bengaluru", "Karnataka", "IN", 12.97, 77.59, 3, 5.5),
    _c("Singapore", "Singapore", "SG", 1.35, 103.82, 3, 8),
    _c("Beijing", "Beijing", "CN", 39.90, 116.41, 0, 8),
    _c("Seoul", "Seoul", "KR", 37.57, 126.98, 4, 9),
    _c("Tokyo", "Tokyo", "JP", 35.68, 139.69, 8, 9),
    _c("Osaka", "Osaka", "JP", 34.69, 135.50, 3, 9),
    _c("Sydney", "New South Wales", "AU", -33.87, 151.21, 8, 10),
    _c("Melbourne", "Victoria", "AU", -37.81, 144.96, 6, 10),
)

CITY_INDEX: dict[str, int] = {city.name: i for i, city in enumerate(CITIES)}

# Networks of the bots and scanners (real operators' ranges, as /24 prefixes) and their towns.
NETWORK_CITIES: dict[str, str] = {
    "66.249.66": "Mountain View",  # Googlebot
    "66.249.68": "Mountain View",
    "66.249.79": "Mountain View",
    "157.55.39": "Quincy",  # bingbot
    "207.46.13": "Quincy",
    "40.77.167": "Quincy",
    "20.191.45": "Ashburn",  # DuckDuckBot
    "5.255.231": "Moscow",  # YandexBot
    "116.179.32": "Beijing",  # Baiduspider
    "54.36.148": "Roubaix",  # AhrefsBot
    "185.191.171": "Frankfurt am Main",  # SemrushBot
    "17.241.219": "Cupertino",  # Applebot
    "69.171.249": "Ashburn",  # facebookexternalhit
    "69.162.124": "Dallas",  # UptimeRobot
    "178.255.152": "Stockholm",  # Pingdom
    "45.148.10": "Amsterdam",  # scanners
    "167.94.138": "Ashburn",
    "193.41.206": "Moscow",
    "218.92.0": "Beijing",
    "185.220.101": "Frankfurt am Main",
    "104.248.36": "Frankfurt am Main",
    "3.90.164": "Ashburn",
    "43.134.58": "Singapore",
    "92.118.39": "Amsterdam",
    "159.203.82": "Toronto",
}

# First octets of the human /16 blocks, per country (public unicast, not reserved).
_FIRST_OCTETS: dict[str, tuple[int, ...]] = {
    "US": (24, 50, 67, 68, 71, 73, 75, 76, 96, 98, 99, 107, 108, 174),
    "CA": (24, 70, 99, 142, 174),
    "MX": (187, 189, 201),
    "BR": (177, 179, 189, 191, 200),
    "GB": (2, 31, 81, 86, 90),
    "IE": (37, 86, 89),
    "FR": (2, 82, 86, 90, 92),
    "DE": (31, 46, 79, 84, 91),
    "NL": (31, 77, 83, 145),
    "ES": (2, 79, 83, 88),
    "IT": (2, 79, 87, 93),
    "SE": (46, 78, 83, 85),
    "RU": (5, 31, 46, 95),
    "IN": (49, 103, 106, 117),
    "SG": (101, 116, 119),
    "CN": (36, 58, 111, 113),
    "KR": (1, 58, 121, 211),
    "JP": (60, 106, 126, 133),
    "AU": (1, 49, 101, 110, 124),
}
BLOCKS_PER_CITY = 2  # 2 × 65,536 addresses: the most visitors a city can have


def _assign_city_blocks() -> tuple[tuple[tuple[int, int], ...], ...]:
    """Give every city BLOCKS_PER_CITY /16 blocks, stable and unique, away from the networks."""
    taken = {tuple(int(x) for x in prefix.split(".")[:2]) for prefix in NETWORK_CITIES}
    if any(city.name not in CITY_INDEX for city in CITIES):  # pragma: no cover
        raise AssertionError("duplicate city name")
    assigned = []
    for index, city in enumerate(CITIES):
        octets = _FIRST_OCTETS[city.country]
        blocks = []
        for j in range(BLOCKS_PER_CITY):
            first = octets[(index * 3 + j) % len(octets)]
            second = (index * 53 + j * 101 + 7) % 256
            while (first, second) in taken:
                second = (second + 1) % 256
            taken.add((first, second))
            blocks.append((first, second))
        assigned.append(tuple(blocks))
    return tuple(assigned)


CITY_BLOCKS: tuple[tuple[tuple[int, int], ...], ...] = _assign_city_blocks()
_BLOCK_CITY: dict[str, int] = {
    f"{first}.{second}": i for i, blocks in enumerate(CITY_BLOCKS) for first, second in blocks
}
_NETWORK_CITY: dict[str, int] = {p: CITY_INDEX[name] for p, name in NETWORK_CITIES.items()}


def country_name(code: str) -> str:
    """A country's everyday English name from its ISO 3166-1 code (`KR` → South Korea);
    the code itself when pycountry does not know it."""
    import pycountry  # loaded only when names are shown: its table is a few MB

    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def country_code(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country's code (FR, FRA) or name (France), any case."""
    import pycountry

    try:
        return str(pycountry.countries.lookup(value.strip()).alpha_2)
    except LookupError:
        return None


def city_for_ip(ip: str) -> City | None:
    """The city a generated client address belongs to (None for an unknown address)."""
    parts = ip.split(".")
    index = _NETWORK_CITY.get(".".join(parts[:3]))
    if index is None:
        index = _BLOCK_CITY.get(".".join(parts[:2]))
    return None if index is None else CITIES[index]
