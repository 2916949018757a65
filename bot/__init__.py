"""chapterbot: turns scattered online members into local chapters that meet, decide and grow."""

__version__ = "0.1.0"
