from s3proxy.cli import main

main()
