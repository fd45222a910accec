"""The bot's HTTP side (aiohttp): health, metrics, the operator dashboard and its charts
(also the /stats chart), and the webhook endpoint."""
