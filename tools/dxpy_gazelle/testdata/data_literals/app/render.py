import importlib.resources


def template():
    return (importlib.resources.files("app.res") / "template.txt").read_text()
