"""Transports: httpx (default), aiohttp (optional extra), and recording fakes for tests."""
