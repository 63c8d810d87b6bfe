"""Example questions a user stands over an OHLCV window.

The benchmarks ask them as flash queries and the equivalence test as probes;
the first is the standing question of every example in the docs.
"""

from __future__ import annotations

OHLCV_QUESTIONS: tuple[str, ...] = (
    "Is the trend bullish or bearish?",
    "What is the last close?",
    "What is the highest high?",
    "What is the lowest low?",
    "What was the first open?",
    "Is volume rising or falling?",
    "What is the last volume?",
    "How many records are there?",
    "Did the price go up in the last record?",
    "What time is the last record?",
    "Summarize the data in one word.",
    "What is the close of the first record?",
    "Is the market volatile?",
    "What is the average close?",
    "Which record has the largest volume?",
    "Is the last candle green or red?",
    "What is the price range?",
    "Should a trader buy or sell?",
    "Is there a reversal?",
    "What is the latest high?",
)
