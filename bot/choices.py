"""Autocomplete choices several cogs offer, built one way."""

from __future__ import annotations

from discord import app_commands

from bot.services.places import Gazetteer

MAX_CHOICES = 25  # Discord's limit for autocomplete answers


def city_choices(places: Gazetteer, current: str) -> list[app_commands.Choice[str]]:
    """At most 25 cities as the user types; the value is the GeoNames id, which resolve accepts."""
    return [
        app_commands.Choice(name=place.label[:100], value=str(place.geoname_id))
        for place in places.suggest(current[:100], limit=MAX_CHOICES)
    ]
