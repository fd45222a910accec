"""The bot's HTTP pages (aiohttp): the operator dashboard."""
