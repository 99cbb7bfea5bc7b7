"""The SQL layer: the only package that imports SQLAlchemy.

Functions here take a ``Connection`` as their first argument and return models from
``threadkeep.models``, never rows. Transactions are opened by ``store/``, where the
policy is; owner scoping is in every query that touches a conversation.
"""
