"""``drkit demo``: the whole product on the embedded simulators, start to finish."""
