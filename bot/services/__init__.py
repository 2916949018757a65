"""Domain services: plain Python over the database, no Discord.

Cogs call them and render the plain results they return.
"""
