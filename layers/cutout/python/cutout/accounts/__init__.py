"""Who a request belongs to and what it may use: keys and accounts (keys.py), plans
(plans.py, plans.json) and the rate limiter that meters them (ratelimit.py)."""
