"""Screens: one per section (queue, feed, history, agents, keys), the request, and modals."""
