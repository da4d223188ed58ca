"""An edge device's own side: its camera, the directory it watches, and routing the images it takes."""
