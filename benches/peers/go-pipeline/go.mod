module gopipeline

go 1.22
