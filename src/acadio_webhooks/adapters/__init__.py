"""Implementations of the ports: storage, transports, notifiers, resolvers."""
