"""splitmix.py — splitmix64 (Steele, Lea & Flood 2014) written here from its published definition,
the independent reference the tests hold strata's draws against (bootstrap resamples, probe folds,
sample:K positions). One copy for every test script: they add tests/ to sys.path."""
M64 = (1 << 64) - 1


def splitmix64(state):
    """Advance state; return (new state, next 64 random bits)."""
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)
