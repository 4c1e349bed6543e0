"""Waking the phone whose page is closed: content-free pushes through an ntfy server the user names.

``relay.push.target`` parses ``--ntfy URL/TOPIC`` and its options, ``relay.push.ntfy`` publishes
("agent X needs you" and a link to the phone app, never the prompt), and
``relay.push.escalation`` decides when: at once, or after the request waited unanswered
(``setup_push(app)``).  This package imports nothing, so ``relay.context`` can name the target.
"""

