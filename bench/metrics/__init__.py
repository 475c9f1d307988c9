"""The metric core: match once per (image, category), derive every number from the matches."""
