"""The HTML side of authgate: login and consent pages, browser sessions, templates."""
