"""Flask-WTF forms: they check the shape of input; services check state and permission."""
