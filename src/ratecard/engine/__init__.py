"""The evaluator: compiled price books, ladders, deduction, and bills."""
