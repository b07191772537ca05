window.YTD.following.part1 = [
  {
    "following" : {
      "accountId" : "2005",
      "userLink" : "https://twitter.com/intent/user?user_id=2005"
    }
  }
]
