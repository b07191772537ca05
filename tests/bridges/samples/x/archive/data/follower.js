window.YTD.follower.part0 = [
  {
    "follower" : {
      "accountId" : "2001",
      "userLink" : "https://twitter.com/intent/user?user_id=2001"
    }
  },
  {
    "follower" : {
      "accountId" : "3001",
      "userLink" : "https://x.com/intent/user?user_id=3001"
    }
  },
  { "follower" : { "accountId" : "3002" } }, { "follower" : { "accountId" : "30
