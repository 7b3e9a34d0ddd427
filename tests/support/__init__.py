"""What several test folders share, imported as `tests.support.<module>`: paths, tiny models, fakes, servers."""
