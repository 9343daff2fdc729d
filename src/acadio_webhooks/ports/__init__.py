"""Small typed interfaces (Protocols) between the delivery core and the outside world."""
