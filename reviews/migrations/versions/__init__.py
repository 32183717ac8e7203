"""The revisions of the review store's schema (a package, so that they ship with it)."""
