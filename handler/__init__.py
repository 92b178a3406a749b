"""optimal-image: recompress every upload to the lowest JPEG quality that looks the same."""
