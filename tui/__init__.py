"""The Textual chain browser (the only package that imports textual)."""
