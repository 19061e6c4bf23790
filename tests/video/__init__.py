"""Tests of video."""
