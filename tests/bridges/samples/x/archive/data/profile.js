window.YTD.profile.part0 = [
  {
    "profile" : {
      "description" : {
        "bio" : "Building things.",
        "website" : "https://t.co/abc123",
        "location" : "Lisbon"
      },
      "avatarMediaUrl" : "https://pbs.twimg.com/profile_images/1/a.jpg",
      "headerMediaUrl" : "https://pbs.twimg.com/profile_banners/1/1"
    }
  }
]
