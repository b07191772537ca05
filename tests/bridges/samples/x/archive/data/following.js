window.YTD.following.part0 = [
  {
    "following" : {
      "accountId" : "2001",
      "userLink" : "https://twitter.com/intent/user?user_id=2001"
    }
  },
  {
    "following" : {
      "accountId" : "2002",
      "userLink" : "https://x.com/intent/user?user_id=2002"
    }
  },
  {
    "following" : {
      "userLink" : "https://twitter.com/intent/user?user_id=2003"
    }
  },
  {
    "following" : {
      "userLink" : "https://evil.example/intent/user?user_id=2004"
    }
  }
]
