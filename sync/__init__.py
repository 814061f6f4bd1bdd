"""ordersync: marketplace orders (Google Content API v2) kept in step with the merchant's order system."""
__version__ = "0.1.0"
