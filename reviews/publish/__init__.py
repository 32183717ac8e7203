"""The public site (issue 19): figures, small-count suppression, the static pages."""
