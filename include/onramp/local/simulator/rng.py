"""Counter-based randomness: every draw is a pure function of (seed, stream name, key).

A user's rows depend only on the seed and the user's id, never on which chunk generated them or on
how many draws came before, so any chunk size gives byte-identical data and any user can be
regenerated on its own (the simulator uses that to look up an inviter's persona).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_TO_UNIT = 2.0**-53
# Room for this many child rows per parent key (see Draws.child_keys).
CHILD_SLOTS = 1024


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, in place on a uint64 array: a cheap bijective avalanche."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _stream_constant(seed: int, stream: str) -> np.uint64:
    """64-bit constant for (seed, stream), stable across processes (unlike ``hash()``)."""
    digest = hashlib.blake2b(f"{seed}\x1f{stream}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


class Draws:
    """Vectorised random draws keyed by integers, reproducible from the seed alone."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._constants: dict[str, np.uint64] = {}

    def bits(self, stream: str, keys: np.ndarray) -> np.ndarray:
        """64 random bits per key."""
        const = self._constants.get(stream)
        if const is None:
            const = self._constants[stream] = _stream_constant(self.seed, stream)
        x = np.asarray(keys).astype(np.uint64, copy=True)
        x *= _GOLDEN
        x ^= const
        _mix(x)
        x += const
        return _mix(x)

    def uniform(self, stream: str, keys: np.ndarray) -> np.ndarray:
        """Uniform floats in [0, 1)."""
        return (self.bits(stream, keys) >> np.uint64(11)).astype(np.float64) * _TO_UNIT

    def integers(self, stream: str, keys: np.ndarray, low: int, high: int) -> np.ndarray:
        """Uniform integers in [low, high)."""
        return low + np.floor(self.uniform(stream, keys) * (high - low)).astype(np.int64)

    def bernoulli(self, stream: str, keys: np.ndarray, p: np.ndarray | float) -> np.ndarray:
        """True with probability ``p`` (scalar or one per key)."""
        return self.uniform(stream, keys) < p

    def exponential(self, stream: str, keys: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
        """Exponential waiting times with the given mean."""
        return -np.log1p(-self.uniform(stream, keys)) * mean

    def normal(self, stream: str, keys: np.ndarray) -> np.ndarray:
        """Standard normal (Box-Muller over two sub-streams)."""
        u1 = self.uniform(stream + ".r", keys)
        u2 = self.uniform(stream + ".t", keys)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def choice(self, stream: str, keys: np.ndarray, weights: Sequence[float] | np.ndarray) -> np.ndarray:
        """Index drawn from one categorical distribution (weights need not sum to 1)."""
        cum = np.cumsum(np.asarray(weights, dtype=np.float64))
        cum /= cum[-1]
        return np.minimum(np.searchsorted(cum, self.uniform(stream, keys), side="right"), len(cum) - 1)

    def choice_by_row(self, stream: str, keys: np.ndarray, groups: np.ndarray, table: np.ndarray) -> np.ndarray:
        """Index drawn from row ``groups[i]`` of a (groups x options) weight table, per key."""
        cum = np.cumsum(np.asarray(table, dtype=np.float64), axis=1)
        cum /= cum[:, -1:]
        u = self.uniform(stream, keys)
        picked = (u[:, None] >= cum[groups]).sum(axis=1)
        return np.minimum(picked, table.shape[1] - 1)

    def poisson(self, stream: str, keys: np.ndarray, lam: np.ndarray, cap: int) -> np.ndarray:
        """Poisson counts (inverse CDF, truncated at ``cap``) with one mean per key."""
        lam = np.asarray(lam, dtype=np.float64)
        k = np.arange(cap + 1, dtype=np.float64)
        log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, cap + 1)))])
        uniq, inverse = np.unique(lam, return_inverse=True)
        pmf = np.exp(k[None, :] * np.log(np.maximum(uniq, 1e-12))[:, None] - uniq[:, None] - log_fact[None, :])
        cdf = np.cumsum(pmf, axis=1)
        u = self.uniform(stream, keys)
        return np.minimum((u[:, None] >= cdf[inverse.ravel()]).sum(axis=1), cap)

    def uuid4(self, stream: str, keys: np.ndarray) -> list[str]:
        """Version-4-shaped UUID strings, deterministic per key."""
        hi = self.bits(stream + ".hi", keys)
        lo = self.bits(stream + ".lo", keys)
        return [str(uuid.UUID(int=_uuid4_int(int(h), int(low)))) for h, low in zip(hi, lo, strict=True)]


def _uuid4_int(hi: int, lo: int) -> int:
    """Set the version (4) and RFC 4122 variant bits on 128 random bits."""
    value = (hi << 64) | lo
    value &= ~(0xF000 << 64)
    value |= 0x4000 << 64
    value &= ~(0xC000 << 48)
    value |= 0x8000 << 48
    return value


def child_keys(parent_ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand parents into child rows: (row index of the parent, ordinal within parent, draw key)."""
    counts = np.asarray(counts, dtype=np.int64)
    parent_index = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    ordinal = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    keys = np.asarray(parent_ids, dtype=np.int64)[parent_index] * CHILD_SLOTS + ordinal
    return parent_index, ordinal, keys
