"""The console's door: the one object the pages call, its web routes, rendering, advice and conversations."""
