"""Sphinx fixes for the built book (registered in _config.yml's extra_extensions)."""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    # Sphinx 7.4 writes an inline add_js_file(None, body=...) twice (None vs ''):
    # sphinx-thebe's `const THEBE_JS_URL` then throws on every page.
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (
            getattr(script, "filename", script) or "",
            getattr(script, "priority", None),
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
