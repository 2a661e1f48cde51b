"""Languages the product speaks to customers in."""

from enum import StrEnum


class Locale(StrEnum):
    EN = "en"
    FR = "fr"
