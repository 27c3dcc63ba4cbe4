from cartoonlab.cli import main

main()
