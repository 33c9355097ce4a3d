"""asv suites of sknegsample (configuration: ../asv.conf.json)."""
