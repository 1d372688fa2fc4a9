"""The workbook's test harness: what the stages are, how to run them, how to drive a browser."""
