"""Pillow and JPEG bytes only: open safely, measure, decode, carry metadata over, encode."""
