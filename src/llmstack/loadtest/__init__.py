"""`llmstack loadtest`: locust-generated OpenAI load with TTFT/ITL/E2E/throughput, an SLO verdict and a report."""
