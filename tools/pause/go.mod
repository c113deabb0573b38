module llmstack.local/tools/pause

go 1.26
