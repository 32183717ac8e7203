"""The public static site (`vigil publish`, issue 19): figures from the review store, small counts suppressed."""
